"""Ways a reply leaves: SMTP (smtplib) and an in-memory outbox for the demo and tests."""
