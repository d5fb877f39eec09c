//! The wording of e-mails. No health data: a message says that something
//! waits for the clinic and links to it. (Danish and HTML versions from
//! templates come with the alerting work.)

/// The subject and body of a red-flag alert to a clinic.
pub fn red_alert(clinic_name: &str, link: &str) -> (String, String) {
    (
        "prom: a response needs review".into(),
        format!(
            "A response in {clinic_name} needs review today.\n\nOpen it here (staff login required):\n{link}\n\nThis message holds no health data.\n"
        ),
    )
}

/// The subject and body of a patient's personal "my data" link, in Danish
/// and English.
pub fn personal_link(link: &str) -> (String, String) {
    (
        "Dine svar / Your answers".into(),
        format!(
            "Her er dit personlige link til dine egne svar:\n{link}\n\nHere is your personal link to your own answers:\n{link}\n"
        ),
    )
}
