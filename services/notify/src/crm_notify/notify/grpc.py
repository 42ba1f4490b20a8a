"""Observed events are served over REST only; NotifyService lives in crm_notify.messages.grpc."""
