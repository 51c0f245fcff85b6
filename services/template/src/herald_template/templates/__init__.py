"""Templates: versioned sources on S3, and rendering them for recipients."""
