"""The only package that opens outgoing connections: the SSRF guard (`targets`) and the webhook
POST (`http`).

A target is checked when an endpoint is saved (`check_target`) and again on every send
(inside `post`): http/https only, no user-info, the host resolved once, and every address
public unless it lies in `TOCSIN_ALLOWED_NETWORKS`. The socket then connects to the address
that was checked, so a DNS answer that changes between the check and the connect (rebinding)
cannot move the request; the Host header, TLS SNI and certificate check keep the name.
Redirects are never followed and at most 1 KB of the answer is kept for the record. A URL is
only ever shown masked (`masking`): its error texts never quote the path in clear.
"""
from webapp.services.outbound.http import OutboundResult, post
from webapp.services.outbound.masking import mask_url
from webapp.services.outbound.targets import BlockedTarget, check_target

__all__ = ["BlockedTarget", "OutboundResult", "check_target", "mask_url", "post"]
