"""Templates run no tasks: content is rendered when a message is requested."""
