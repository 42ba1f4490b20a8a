from crm_platform.cli import main

main("crm_billing")
