//! The word splitter and Okapi BM25 term weight shared by the endpoint search and the ticket
//! history ([`crate::history`]), so both rank text the same way.

/// BM25's term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25's length normalisation.
pub const B: f64 = 0.75;

/// Words that carry no meaning for a search.
pub const STOP: &[&str] = &[
    "a", "an", "the", "to", "of", "for", "on", "in", "by", "from", "with", "this", "that", "my",
    "our", "all", "is", "are", "me", "it", "its", "and", "or", "at",
];

/// Lower-case words of `text`, split at non-letters and camelCase humps, lightly stemmed.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && previous_lower && !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            current.push(c.to_ascii_lowercase());
        } else {
            previous_lower = false;
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out.into_iter().map(|w| stem(&w)).collect()
}

fn stem(word: &str) -> String {
    if word.len() > 4 && word.ends_with("ies") {
        return format!("{}y", &word[..word.len() - 3]);
    }
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") && !word.ends_with("us") {
        return word[..word.len() - 1].to_owned();
    }
    word.to_owned()
}

/// The inverse document frequency of a term found in `df` of `n` documents.
pub fn idf(n: f64, df: f64) -> f64 {
    ((n - df + 0.5) / (df + 0.5) + 1.0).ln()
}

/// A term's weight in one document: its frequency `tf`, saturated and normalised by the
/// document's length against the average. Multiply by [`idf`] for the term's score.
pub fn weight(tf: f64, length: f64, average_length: f64) -> f64 {
    tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / average_length.max(f64::MIN_POSITIVE)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_paths_and_camel_case_and_stem() {
        assert_eq!(
            words("/service/tickets/{parentId}/notes"),
            ["service", "ticket", "parent", "id", "note"]
        );
        assert_eq!(
            words("Get List of ExpenseEntryAudit"),
            ["get", "list", "of", "expense", "entry", "audit"]
        );
        assert_eq!(words("companies status"), ["company", "status"]);
    }

    #[test]
    fn rarer_terms_and_shorter_documents_weigh_more() {
        assert!(idf(100.0, 1.0) > idf(100.0, 50.0));
        assert!(
            idf(100.0, 100.0) > 0.0,
            "a term in every document still counts a little"
        );
        assert!(weight(1.0, 5.0, 10.0) > weight(1.0, 20.0, 10.0));
        assert!(weight(3.0, 10.0, 10.0) > weight(1.0, 10.0, 10.0));
        assert!(weight(100.0, 10.0, 10.0) < K1 + 1.0, "frequency saturates");
    }
}
