//! The `hushline` command line: parses arguments, calls the library, prints. No logic here.

fn main() {
    println!("hushline");
}
