"""Campaign statistics: computed from the campaign item, served as JSON and as a live event stream."""
