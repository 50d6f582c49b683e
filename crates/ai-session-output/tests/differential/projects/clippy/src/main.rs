fn is_empty(v: &Vec<u32>) -> bool {
    return v.len() == 0;
}

fn main() {
    let x = 5;
    if x == 5 {
        if x > 1 {
            println!("{}", is_empty(&vec![1]));
        }
    }
    let s = String::from("a");
    let _t = s.clone().clone();
}
