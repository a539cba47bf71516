"""The seed's example feedback payload ("Feedback Submission API"), shared by the tests."""

SEED_FEEDBACK = {
    "category": "bug_report",
    "severity": "high",
    "title": "Appointment reminders not sending",
    "description": "Recurring appointments are not triggering reminder notifications",
    "featureArea": "reminders",
    "browserInfo": "Chrome 118.0.0.0",
    "deviceInfo": "Windows 11",
    "steps": ["Create recurring appointment", "Wait for reminder time", "Check if reminder was sent"],
    "expectedBehavior": "Reminder should be sent automatically",
    "actualBehavior": "No reminder is sent",
    "satisfactionRating": 2,
    "usabilityRating": 3,
    "performanceRating": 4,
}
