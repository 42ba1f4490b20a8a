from crm_platform.errors import ValidationFailed


class InvalidPhone(ValidationFailed):
    type_slug = "invalid-phone"
    title = "Invalid phone number"

    def __init__(self, reason: str, field: str = "phone") -> None:
        super().__init__({field: reason})
