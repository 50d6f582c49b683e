//! Okapi BM25 over entries, against a task text.
//!
//! Terms are lower-cased runs of letters, digits and `_`, so `tests::slugify_spaces` yields
//! `tests` and `slugify_spaces` and an identifier in a task text matches it exactly.

use std::collections::HashMap;

const K1: f64 = 1.2;
const B: f64 = 0.75;

/// Term frequencies of one document.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TermVector {
    freqs: HashMap<String, u32>,
    length: u32,
}

impl TermVector {
    /// Counts the terms of `text`.
    pub fn new(text: &str) -> Self {
        let mut vector = TermVector::default();
        for term in terms(text) {
            *vector.freqs.entry(term).or_insert(0) += 1;
            vector.length += 1;
        }
        vector
    }

    /// Number of terms (with repetition).
    pub fn len(&self) -> u32 {
        self.length
    }

    /// True when the document has no terms.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    fn freq(&self, term: &str) -> u32 {
        self.freqs.get(term).copied().unwrap_or(0)
    }
}

/// Lower-cased terms of `text`, in order.
pub fn terms(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty() && !is_stop_word(word))
        .map(str::to_lowercase)
}

fn is_stop_word(word: &str) -> bool {
    matches!(
        word,
        "a" | "an"
            | "the"
            | "to"
            | "of"
            | "and"
            | "or"
            | "in"
            | "on"
            | "is"
            | "it"
            | "for"
            | "with"
            | "be"
            | "this"
            | "that"
    )
}

/// Scores documents against one query.
#[derive(Debug, Clone)]
pub struct Bm25 {
    query: Vec<(String, f64)>,
    average_length: f64,
}

impl Bm25 {
    /// Prepares scoring of `query` over `docs` (inverse document frequencies come from `docs`).
    pub fn new(query: &str, docs: &[&TermVector]) -> Self {
        let mut unique: Vec<String> = terms(query).collect();
        unique.sort();
        unique.dedup();
        let n = docs.len() as f64;
        let query = unique
            .into_iter()
            .map(|term| {
                let df = docs.iter().filter(|d| d.freq(&term) > 0).count() as f64;
                let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                (term, idf)
            })
            .collect();
        let total: f64 = docs.iter().map(|d| f64::from(d.length)).sum();
        let average_length = if docs.is_empty() {
            1.0
        } else {
            (total / n).max(1.0)
        };
        Self {
            query,
            average_length,
        }
    }

    /// BM25 score of `doc` (0 when it shares no term with the query).
    pub fn score(&self, doc: &TermVector) -> f64 {
        let length_norm = 1.0 - B + B * f64::from(doc.length) / self.average_length;
        self.query
            .iter()
            .map(|(term, idf)| {
                let tf = f64::from(doc.freq(term));
                idf * tf * (K1 + 1.0) / (tf + K1 * length_norm)
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths_and_identifiers() {
        let got: Vec<String> = terms("test tests::slugify_spaces at src/lib.rs:42").collect();
        assert_eq!(
            got,
            [
                "test",
                "tests",
                "slugify_spaces",
                "at",
                "src",
                "lib",
                "rs",
                "42"
            ]
        );
    }

    #[test]
    fn rare_matching_term_wins() {
        let docs = [
            TermVector::new("cargo build finished ok"),
            TermVector::new("test tests::slugify_spaces ... FAILED"),
            TermVector::new("cargo test ran 9 tests"),
        ];
        let refs: Vec<&TermVector> = docs.iter().collect();
        let bm25 = Bm25::new("fix the failing cargo test slugify_spaces", &refs);
        let scores: Vec<f64> = docs.iter().map(|d| bm25.score(d)).collect();
        assert!(scores[1] > scores[0] && scores[1] > scores[2], "{scores:?}");
        assert_eq!(bm25.score(&TermVector::new("unrelated words")), 0.0);
    }
}
