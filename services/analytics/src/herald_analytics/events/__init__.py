"""SES events (flow steps 19–22): parse, attribute, count once per recipient, suppress, announce."""
