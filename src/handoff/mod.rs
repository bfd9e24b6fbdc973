//! Moving a caller to a human advisor: queues, blind transfer (REFER, RFC 3515) and, later, warm
//! transfer with the caller's context.
