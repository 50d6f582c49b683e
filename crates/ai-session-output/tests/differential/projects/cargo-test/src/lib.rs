//! A tiny ledger.

/// Adds two amounts.
///
/// ```
/// assert_eq!(ledger::add(2, 2), 4);
/// ```
pub fn add(a: i64, b: i64) -> i64 {
    a + b
}

/// Splits an amount evenly.
///
/// ```
/// assert_eq!(ledger::split(10, 3), 4);
/// ```
pub fn split(total: i64, ways: i64) -> i64 {
    total / ways
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn adds_negative() {
        assert_eq!(add(-1, -1), -3);
    }

    #[test]
    fn splits_by_zero() {
        let ways = 0;
        assert_eq!(split(1, ways), 0);
    }

    #[test]
    #[ignore = "slow"]
    fn splits_large() {
        assert_eq!(split(i64::MAX, 1), i64::MAX);
    }

    #[test]
    fn splits() {
        assert_eq!(split(9, 3), 3);
    }
}
