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
