"""Templates are managed over REST; SendNotification (crm_notify.messages.grpc) uses them."""
