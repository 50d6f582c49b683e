use std::collections::HashMap;

fn price(code: &str) -> u32 {
    let unused = 3;
    match code {
        "a" => 10,
        _ => "free",
    }
}

fn main() {
    let total: u16 = price("a");
    println!("{}", total + missing);
}
