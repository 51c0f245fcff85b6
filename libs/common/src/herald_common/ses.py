"""Sending one raw MIME email through SES, v2 or v1, with the configuration set and tags: written once for the
processor (campaign sends) and the campaign service (test sends).

One attempt only: the clients come from `herald_common.aws` with `SES_CONFIG`, and every error reaches the caller,
because a retried send can deliver an email twice; Herald's delivery ledger decides what is retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from types_aiobotocore_ses import SESClient
    from types_aiobotocore_sesv2 import SESV2Client


class RawEmailSender:
    """SES v2 `SendEmail` with `Content.Raw`, or v1 `SendRawEmail` (LocalStack has no v2): exactly one is given."""

    def __init__(
        self, configuration_set: str, *, sesv2: SESV2Client | None = None, ses: SESClient | None = None
    ) -> None:
        if (sesv2 is None) == (ses is None):
            raise ValueError("exactly one of sesv2 and ses is needed")
        self._v2 = sesv2
        self._v1 = ses
        self._configuration_set = configuration_set

    async def send(self, destination: str, raw: bytes, tags: Mapping[str, str], *, tenant_name: str = "") -> str:
        """Send `raw` to `destination` (under the SES tenant `tenant_name`, v2 only, when given); SES's message id.
        SES errors are raised as botocore `ClientError`."""
        pairs = [{"Name": name, "Value": value} for name, value in sorted(tags.items())]
        if self._v2 is not None:
            extra = {"TenantName": tenant_name} if tenant_name else {}
            answer_v2 = await self._v2.send_email(
                Destination={"ToAddresses": [destination]},
                Content={"Raw": {"Data": raw}},
                ConfigurationSetName=self._configuration_set,
                EmailTags=pairs,  # type: ignore[arg-type]
                **extra,  # type: ignore[arg-type]
            )
            return answer_v2["MessageId"]
        if tenant_name:
            raise ValueError("SES tenants need SES v2 (HERALD_SES_API_VERSION=v2)")
        assert self._v1 is not None
        answer_v1 = await self._v1.send_raw_email(
            Destinations=[destination],
            RawMessage={"Data": raw},
            ConfigurationSetName=self._configuration_set,
            Tags=pairs,  # type: ignore[arg-type]
        )
        return answer_v1["MessageId"]
