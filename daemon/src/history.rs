//! The shop's ticket history: a full-text index of closed tickets and their final labels, the
//! precedent a triage decision is grounded in (issue 10).
