//! Shadow metrics: what humans later did to the records that observe-mode proposals touched
//! (issue 9).
