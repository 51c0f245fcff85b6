"""Herald template service: versioned templates on S3 and a sandboxed Jinja2 render API."""
