"""``show channels`` / ``show calls`` as FreeSWITCH 1.10.12 prints them (captures 08a, 15, 16).

A loopback call is two channels, the A leg the dialer controls and the ``-b`` leg that runs
the called party's extension, so both tables show two rows per loopback call (they are not
bridged: the ``b_*`` columns of ``show calls`` stay empty) and ``count`` counts both, like
``status`` and HEARTBEAT's Session-Count.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from dialer.simulator.clock import date_local
from dialer.simulator.events import HOSTNAME

if TYPE_CHECKING:
    from dialer.simulator.call import Call
    from dialer.simulator.switch import Switch

_CHANNEL_COLUMNS = (  # the header lines FreeSWITCH prints
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,"
    "application,application_data,dialplan,context,read_codec,read_rate,read_bit_rate,"
    "write_codec,write_rate,write_bit_rate,secure,hostname,presence_id,presence_data,"
    "accountcode,callstate,callee_name,callee_num,callee_direction,call_uuid,sent_callee_name,"
    "sent_callee_num,initial_cid_name,initial_cid_num,initial_ip_addr,initial_dest,"
    "initial_dialplan,initial_context"
)
_CALL_COLUMNS = (
    "uuid,direction,created,created_epoch,name,state,cid_name,cid_num,ip_addr,dest,"
    "presence_id,presence_data,accountcode,callstate,callee_name,callee_num,callee_direction,"
    "call_uuid,hostname,sent_callee_name,sent_callee_num,b_uuid,b_direction,b_created,"
    "b_created_epoch,b_name,b_state,b_cid_name,b_cid_num,b_ip_addr,b_dest,b_presence_id,"
    "b_presence_data,b_accountcode,b_callstate,b_callee_name,b_callee_num,b_callee_direction,"
    "b_sent_callee_name,b_sent_callee_num,call_created_epoch"
)
CHANNEL_KEYS = tuple(_CHANNEL_COLUMNS.split(","))
CALL_KEYS = tuple(_CALL_COLUMNS.split(","))
USAGE = "-USAGE: show channels|calls [count|as json]\n"


def show(switch: Switch, args: str) -> str:
    words = args.split()
    if not words or words[0] not in ("channels", "calls"):
        return USAGE
    keys = CHANNEL_KEYS if words[0] == "channels" else CALL_KEYS
    rows = [{k: row.get(k, "") for k in keys} for row in legs(switch)]
    if words[1:] == ["count"]:
        return f"\n{len(rows)} total.\n"
    if words[1:3] == ["as", "json"]:
        if not rows:
            return '{"row_count": 0}\n'  # sic: spaced, with a newline, unlike the rows form
        return json.dumps({"row_count": len(rows), "rows": rows}, separators=(",", ":"))
    if not rows:
        return "\n0 total.\n"
    lines = [",".join(keys)] + [",".join(r[k] for k in keys) for r in rows]
    return "\n".join(lines) + f"\n\n{len(rows)} total.\n"


def legs(switch: Switch) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for call in list(switch.calls.values()):
        if call.ch.hungup:
            continue
        out.append(_a_leg(call))
        if call.ch.dial.endpoint == "loopback" and call.sessions >= 2:
            out.append(_b_leg(call))
    return out


def _common(call: Call) -> dict[str, str]:
    ch = call.ch
    return {
        "created": date_local(ch.created_us),
        "created_epoch": str(ch.created_us // 1_000_000),
        "dest": ch.dial.number,
        "dialplan": "xml",
        "context": ch.dial.context,
        "hostname": HOSTNAME,
        "initial_cid_name": ch.cid_name,
        "initial_cid_num": ch.cid_number,
        "initial_dest": ch.dial.number,
        "initial_dialplan": "xml",
        "initial_context": ch.dial.context,
    }


def _codec(row: dict[str, str]) -> None:
    for side in ("read", "write"):
        row[f"{side}_codec"], row[f"{side}_rate"], row[f"{side}_bit_rate"] = (
            "L16",
            "8000",
            "128000",
        )


def _a_leg(call: Call) -> dict[str, str]:
    ch = call.ch
    answered = ch.answer_state == "answered"
    row = _common(call)
    row.update(
        uuid=ch.uuid,
        direction="outbound",
        name=ch.name,
        state=ch.state,
        callstate=ch.call_state,
        call_uuid=ch.uuid,
    )
    callee = ("Outbound Call", ch.dial.context)
    if ch.flipped:  # loopback swaps the caller ids once answered (README pitfall 5)
        row.update(cid_name=callee[0], cid_num=callee[1], callee_direction="RECV")
        row.update(callee_name=ch.cid_name, callee_num=ch.cid_number)
    else:
        row.update(cid_name=ch.cid_name, cid_num=ch.cid_number)
        row.update(callee_name=callee[0], callee_num=callee[1])
    if answered:
        row.update(application=ch.app, application_data=ch.app_arg)
        _codec(row)
    return row


def _b_leg(call: Call) -> dict[str, str]:
    ch = call.ch
    answered = call.answered_at is not None
    row = _common(call)
    row.update(
        uuid=ch.variables.get("other_loopback_leg_uuid", ""),
        direction="inbound",
        name=ch.name.removesuffix("-a") + "-b",
        state="CS_EXECUTE",
        cid_name=ch.cid_name,
        cid_num=ch.cid_number,
        callstate="ACTIVE" if answered else "RINGING",
        callee_name="Outbound Call",
        callee_num=ch.dial.context,
        # the called party's extension: it sleeps through the ring, then parks
        application="park" if answered else "sleep",
        application_data="" if answered else str(int(call.plan.ring * 1000)),
    )
    _codec(row)
    return row
