#[test]
fn public_add() {
    assert_eq!(ledger::add(40, 2), 42);
}

#[test]
fn public_split() {
    assert!(ledger::split(7, 2) == 4, "7 split 2 ways");
}
