fn main() {
    println!("frontdoor");
}
