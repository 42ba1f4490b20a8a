from crm_platform.errors import Conflict, NotFound, Unauthenticated


class MessageNotFound(NotFound):
    type_slug = "message-not-found"
    title = "Message not found"


class IdempotencyKeyReused(Conflict):
    type_slug = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class InvalidWebhookToken(Unauthenticated):
    type_slug = "invalid-webhook-token"
    title = "Invalid webhook token"
