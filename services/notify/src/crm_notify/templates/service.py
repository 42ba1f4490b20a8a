"""Templates per (key, channel, locale); rendering with strict variables; preview. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from crm_platform.auth import Principal
from crm_platform.errors import ValidationFailed
from crm_platform.ids import new_id
from sqlalchemy.ext.asyncio import AsyncSession

from crm_notify.providers import segments
from crm_notify.templates import rendering
from crm_notify.templates.exceptions import TemplateExists, TemplateNotFound
from crm_notify.templates.models import Template
from crm_notify.templates.repository import TemplateRepository
from crm_notify.templates.schemas import PreviewIn, PreviewOut, SmsInfo, TemplateIn

EDITOR_ROLES = ("admin", "manager")


@dataclass(frozen=True)
class Content:
    """What a message carries, ready to send."""

    subject: str
    text: str
    html: str | None
    locale: str
    segments: int = 1


def build_content(
    channel: str,
    locale: str,
    subject: str,
    text: str,
    html: str | None,
    data: Mapping[str, Any],
    tz: str = "UTC",
    unsubscribe_url: str | None = None,
    *,
    templated: bool = True,
) -> Content:
    """Render (when ``templated``) and lay out: HTML e-mail in the RTL-safe layout, SMS segmented."""
    if templated:
        try:
            r = rendering.render(subject, text, html, data, locale, tz)
        except rendering.RenderError as exc:
            raise ValidationFailed(exc.fields) from None
        subject, text, html = r.subject, r.text, r.html
    if channel == "email":
        if unsubscribe_url:
            footer = {"fa": "لغو اشتراک", "he": "הסרה", "hu": "Leiratkozás"}.get(locale, "Unsubscribe")
            text = f"{text.rstrip()}\n\n{footer}: {unsubscribe_url}\n"
        body = html if html else rendering.text_to_html(text)
        html = rendering.email_layout(body, subject, locale, unsubscribe_url)
        return Content(subject, text, html, locale)
    if channel == "sms":
        if not text.strip():
            raise ValidationFailed({"body_text": "an SMS needs text"})
        return Content("", text, None, locale, segments.count(text))
    return Content(subject, text, None, locale)


class TemplateService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.repo = TemplateRepository(session)

    @staticmethod
    def _check_syntax(data: TemplateIn) -> None:
        try:
            rendering.variables(data.subject, data.body_text, data.body_html)
        except rendering.RenderError as exc:
            raise ValidationFailed(exc.fields) from None

    async def create(self, data: TemplateIn, who: Principal) -> Template:
        who.require(*EDITOR_ROLES)
        self._check_syntax(data)
        if await self.repo.find(data.key, data.channel, data.locale) is not None:
            raise TemplateExists(f"template {data.key}/{data.channel}/{data.locale} exists")
        return await self.repo.add(Template(id=new_id(), **data.model_dump()))

    async def get(self, template_id: uuid.UUID, who: Principal) -> Template:
        template = await self.repo.get(template_id)
        if template is None:
            raise TemplateNotFound(f"template {template_id} does not exist")
        return template

    async def search(
        self, who: Principal, key: str | None = None, channel: str | None = None, locale: str | None = None
    ) -> list[Template]:
        return await self.repo.search(key, channel, locale)

    async def replace(self, template_id: uuid.UUID, data: TemplateIn, who: Principal) -> Template:
        who.require(*EDITOR_ROLES)
        template = await self.get(template_id, who)
        self._check_syntax(data)
        other = await self.repo.find(data.key, data.channel, data.locale)
        if other is not None and other.id != template.id:
            raise TemplateExists(f"template {data.key}/{data.channel}/{data.locale} exists")
        for name, value in data.model_dump().items():
            setattr(template, name, value)
        await self.session.flush()
        return template

    async def delete(self, template_id: uuid.UUID, who: Principal) -> None:
        who.require(*EDITOR_ROLES)
        await self.repo.delete(await self.get(template_id, who))

    async def resolve(self, key: str, channel: str, locale: str, fallback_locale: str = "en") -> Template:
        """The template in ``locale``, else in the fallback locale; 422 when neither exists."""
        for candidate in dict.fromkeys((locale, fallback_locale, "en")):
            template = await self.repo.find(key, channel, candidate)
            if template is not None:
                return template
        raise ValidationFailed({"template": f"no {channel} template {key!r} for locale {locale}"})

    async def preview(
        self, data: PreviewIn, who: Principal, unsubscribe_url: str | None = None
    ) -> PreviewOut:
        if data.key:
            t = await self.resolve(data.key, data.channel, data.locale)
            subject, text, html, locale = t.subject, t.body_text, t.body_html, t.locale
        else:
            if not (data.body_text or data.body_html):
                raise ValidationFailed({"body_text": "give a template key or inline content"})
            subject, text, html, locale = (
                data.subject or "",
                data.body_text or "",
                data.body_html,
                data.locale,
            )
        content = build_content(
            data.channel,
            locale,
            subject,
            text,
            html,
            data.data,
            data.timezone,
            unsubscribe_url if data.purpose == "marketing" else None,
        )
        sms = None
        if data.channel == "sms":
            segs = segments.split(content.text)
            sms = SmsInfo(encoding=segs.encoding, segments=segs.count, units=segs.units)
        return PreviewOut(
            channel=data.channel,
            locale=locale,
            direction=rendering.direction(locale),
            subject=content.subject,
            body_text=content.text,
            body_html=content.html,
            sms=sms,
        )


def template_out(template: Template) -> dict[str, Any]:
    from crm_notify.templates.schemas import TemplateOut

    out = TemplateOut.model_validate(template)
    out.variables = sorted(rendering.variables(template.subject, template.body_text, template.body_html))
    return out.model_dump()
