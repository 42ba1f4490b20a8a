"""gRPC edge of reports (methods of crm.deals.v1.DealsService, thin): the same reports as REST."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import grpc
from crm.common.v1 import money_pb2
from crm.deals.v1 import deals_pb2
from crm_platform.errors import ValidationFailed
from crm_platform.grpc import principal
from crm_platform.ids import parse_id

from crm_deals.reports.schemas import Period, Scope
from crm_deals.reports.service import ReportService, scope_for

if TYPE_CHECKING:
    from crm_platform.runtime import Runtime

PERIODS: dict[int, Period] = {
    deals_pb2.FORECAST_PERIOD_UNSPECIFIED: "month",
    deals_pb2.FORECAST_PERIOD_MONTH: "month",
    deals_pb2.FORECAST_PERIOD_QUARTER: "quarter",
}


def _day(value: str, field: str) -> dt.date | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed({field: "must be a date, YYYY-MM-DD"}) from None


def _scope(f: deals_pb2.ReportFilter) -> Scope:
    return scope_for(
        principal(),
        owner_id=f.owner_id or None,
        team=f.team or None,
        pipeline_id=parse_id(f.pipeline_id, "filter.pipeline_id") if f.pipeline_id else None,
        start=_day(f.period_start, "filter.period_start"),
        end=_day(f.period_end, "filter.period_end"),
    )


def _rate(value: object) -> str:
    return "" if value is None else str(value)


class ReportRpcs:
    runtime: Runtime

    async def GetFunnelReport(
        self, request: deals_pb2.GetFunnelReportRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetFunnelReportResponse:
        scope = _scope(request.filter)
        async with self.runtime.sessions() as session:
            report = await ReportService(session).funnel(scope)
        return deals_pb2.GetFunnelReportResponse(
            pipeline_id=str(report.pipeline_id),
            stages=[
                deals_pb2.FunnelStage(
                    stage_id=str(s.stage_id),
                    name=s.name,
                    position=s.position,
                    kind=s.kind,
                    count=s.count,
                    value=[money_pb2.Money(currency_code=m.currency, amount=str(m.amount)) for m in s.value],
                    reached=s.reached,
                    conversion_rate=_rate(s.conversion_rate),
                )
                for s in report.stages
            ],
        )

    async def GetForecastReport(
        self, request: deals_pb2.GetForecastReportRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetForecastReportResponse:
        scope = _scope(request.filter)
        period = PERIODS.get(request.period)
        if period is None:
            raise ValidationFailed({"period": "unknown period"})
        as_of = _day(request.as_of, "as_of")
        async with self.runtime.sessions() as session:
            report = await ReportService(session).forecast(scope, period, as_of)
        return deals_pb2.GetForecastReportResponse(
            rows=[
                deals_pb2.ForecastRow(
                    period=r.period,
                    currency_code=r.currency,
                    count=r.count,
                    pipeline=str(r.pipeline),
                    weighted=str(r.weighted),
                    commit=str(r.commit),
                    best_case=str(r.best_case),
                    closed=str(r.closed),
                )
                for r in report.rows
            ]
        )

    async def GetWinLossReport(
        self, request: deals_pb2.GetWinLossReportRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetWinLossReportResponse:
        scope = _scope(request.filter)
        async with self.runtime.sessions() as session:
            report = await ReportService(session).win_loss(scope)

        def rows(items: list) -> list[deals_pb2.WinLossRow]:  # type: ignore[type-arg]
            return [
                deals_pb2.WinLossRow(key=r.key, won=r.won, lost=r.lost, win_rate=_rate(r.win_rate))
                for r in items
            ]

        return deals_pb2.GetWinLossReportResponse(
            by_source=rows(report.by_source), by_lost_reason=rows(report.by_lost_reason)
        )

    async def GetStageDurationReport(
        self, request: deals_pb2.GetStageDurationReportRequest, context: grpc.aio.ServicerContext
    ) -> deals_pb2.GetStageDurationReportResponse:
        scope = _scope(request.filter)
        async with self.runtime.sessions() as session:
            report = await ReportService(session).stage_durations(scope)
        return deals_pb2.GetStageDurationReportResponse(
            stages=[
                deals_pb2.StageDuration(
                    stage_id=str(s.stage_id),
                    name=s.name,
                    samples=s.samples,
                    average_days="" if s.average_days is None else str(s.average_days),
                )
                for s in report.stages
            ]
        )
