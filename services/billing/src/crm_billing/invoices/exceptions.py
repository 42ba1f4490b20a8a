from crm_platform.errors import NotFound


class InvoiceNotFound(NotFound):
    type_slug = "invoice-not-found"
    title = "Invoice not found"
