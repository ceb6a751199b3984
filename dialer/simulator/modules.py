"""The modules a simulated node has loaded unless told otherwise: a FreeSWITCH 1.10 build with
what the shipped flow uses (mod_amd is third-party: a node may lack it, ``modules=``)."""

from __future__ import annotations

DEFAULT_MODULES = frozenset(
    {
        "mod_console",
        "mod_logfile",
        "mod_event_socket",
        "mod_sofia",
        "mod_loopback",
        "mod_commands",
        "mod_conference",
        "mod_db",
        "mod_dptools",
        "mod_lua",
        "mod_expr",
        "mod_hash",
        "mod_callcenter",
        "mod_avmd",
        "mod_spandsp",
        "mod_dialplan_xml",
        "mod_sndfile",
        "mod_native_file",
        "mod_local_stream",
        "mod_tone_stream",
        "mod_say_en",
        "mod_amd",
    }
)
