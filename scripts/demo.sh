#!/usr/bin/env bash
# The main job in one command. Installs what is needed, builds, starts `frontdoor serve` on
# 127.0.0.1 with the default council flow, and places a demo call to it with baresip (an
# independent SIP phone). The resident listens to the welcome, then uses the keypad to ask about
# a single-person council tax discount and keys an account number; Frontdoor stores a case and
# reads its reference back. The script saves what the caller heard to demo-call.wav, prints the
# SIP exchange, Frontdoor's call summary and the stored case and call record, and stops
# everything it started. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

./scripts/setup.sh
echo "demo: building frontdoor (release)"
cargo build --release --bin frontdoor
bin="$root/target/release/frontdoor"

work=$(mktemp -d /tmp/frontdoor-demo.XXXXXX)
server_pid=""
baresip_pid=""
cleanup() {
    [ -n "$baresip_pid" ] && kill "$baresip_pid" 2>/dev/null && wait "$baresip_pid" 2>/dev/null || true
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT INT TERM

# Ports on loopback that nothing else is using.
in_use() { ss -Hlnu "sport = :$1" | grep -q . || ss -Hlnt "sport = :$1" | grep -q .; }
free_port() { local p; while :; do p=$(( 40000 + RANDOM % 20000 )); in_use "$p" || { echo "$p"; return; }; done; }
sip_port=5060
if in_use "$sip_port"; then sip_port=$(free_port); fi
ctrl_port=$(free_port)
phone_port=$(free_port)

echo "demo: starting frontdoor serve on 127.0.0.1:$sip_port (log: $work/frontdoor.log)"
# Per-message SIP lines are debug level in production; the demo shows the exchange.
RUST_LOG="info,frontdoor::sip::ua=debug" "$bin" serve --listen "127.0.0.1:$sip_port" --rtp-ports 31000-31999 --max-calls 100 \
    --flows call-flows --prompts audio-prompts --data "$work/data" \
    >"$work/frontdoor.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do grep -q "listening" "$work/frontdoor.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening" "$work/frontdoor.log" || { cat "$work/frontdoor.log"; echo "demo: server did not start"; exit 1; }

# The caller: baresip with a silent microphone (aufile hangs up at the end of its file, so
# make it longer than the call) and the sndfile module recording what it hears.
sox -n -r 8000 -c 1 -b 16 "$work/mic.wav" trim 0 120
mkdir -p "$work/phone"
cat >"$work/phone/config" <<CONF
poll_method		epoll
sip_listen		127.0.0.1:$phone_port
sip_trans_def		udp
audio_player		alsa,null
audio_alert		alsa,null
audio_source		aufile,$work/mic.wav
audio_srate		8000
audio_channels		1
rtp_ports		32000-32099
net_interface		127.0.0.1
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			sndfile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$ctrl_port
snd_path		$work/phone
CONF
echo "<sip:resident@127.0.0.1>;regint=0;answermode=manual;audio_codecs=PCMU" >"$work/phone/accounts"
(cd "$work/phone" && exec baresip -f "$work/phone") >"$work/phone/baresip.log" 2>&1 &
baresip_pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$ctrl_port) 2>/dev/null && break; sleep 0.1; done

# baresip's ctrl_tcp speaks JSON in netstrings.
exec 4<>/dev/tcp/127.0.0.1/$ctrl_port
send() { local json="{\"command\":\"$1\",\"params\":\"$2\",\"token\":\"demo\"}"; printf '%d:%s,' "${#json}" "$json" >&4; }

press() { echo "demo: the resident presses $1 ($2)"; send sndcode "$1"; sleep "${3:-4}"; }
echo "demo: the resident dials sip:01632960000@127.0.0.1:$sip_port (the council's number)"
send dial "sip:01632960000@127.0.0.1:$sip_port"
echo "demo: Frontdoor plays the privacy notice and asks what the call is about"
sleep 16
press 1 "council tax or benefits"
press 1 "council tax"
press 3 "tell us about a change"
press 2 "a discount"
press 1 "living on my own" 6
echo "demo: the resident keys an account number and #"
for d in 1 2 3 4 5 6 7 8 '#'; do send sndcode "$d"; sleep 0.4; done
echo "demo: Frontdoor stores the case, reads back its reference and asks if there is anything else"
sleep 20
press 2 "nothing else" 10
press 5 "survey: very satisfied" 8
send hangup ""
sleep 1
echo "demo: call over; stopping the phone"
send quit ""
wait "$baresip_pid" 2>/dev/null || true
baresip_pid=""

heard=$(ls "$work"/phone/dump-*-dec.wav 2>/dev/null | head -n 1 || true)
if [ -z "$heard" ]; then
    echo "demo: no recording was made; baresip log:"; tail -n 30 "$work/phone/baresip.log"; exit 1
fi
cp "$heard" "$root/demo-call.wav"
echo "demo: what the caller heard is in demo-call.wav ($(soxi -D "$root/demo-call.wav" | cut -c1-5) s)"
echo
echo "demo: Frontdoor's log of the call:"
grep -E "sip (request|response)|call summary" "$work/frontdoor.log" | sed 's/^/  /'
echo
echo "demo: the case and call record Frontdoor stored (frontdoor records export):"
"$bin" records --data "$work/data" export | sed 's/^/  /'
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
rm -rf "$work"
