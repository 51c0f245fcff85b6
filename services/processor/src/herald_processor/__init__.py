"""Herald email processor: email-job batches from SQS, rendered by the template service, sent through SES."""
