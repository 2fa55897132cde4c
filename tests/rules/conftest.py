"""Fixtures for the rule-engine tests."""

from __future__ import annotations

import pytest

#: Names the default rule set may use (the lead checks these against the real pipeline).
PIPELINE_NAMES = (
    "distinct__applicant_id__by__device_id__24h", "distinct__applicant_id__by__device_id__7d",
    "distinct__device_id__by__applicant_id__24h", "distinct__phone__by__applicant_id__7d",
    "distinct__applicant_id__by__bank_card__30d", "distinct__applicant_id__by__phone__30d",
    "count__ip_prefix__1h", "count__ip_prefix__10m", "count__inviter_id__24h", "count__inviter_id__7d",
    "applicant_id__checksum_ok", "applicant_id__valid", "applicant_id__age", "device__emulator",
    "device__rooted", "amount", "term_months", "channel", "product", "ip", "ip_prefix",
    # also in the pipeline (checked on synthetic data), used by the default rule set:
    "distinct__applicant_id__by__email__30d", "device__screen_impossible",
    "distinct__applicant_id__by__device_hw_and_ip_prefix__24h",
)
IDENTIFIER_NAMES = ("applicant_id", "phone", "email", "bank_card", "ip", "inviter_id", "ip_prefix")


@pytest.fixture
def pipeline_names() -> tuple[str, ...]:
    return PIPELINE_NAMES


@pytest.fixture
def identifier_names() -> tuple[str, ...]:
    return IDENTIFIER_NAMES
