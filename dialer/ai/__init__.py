"""AI voice agents: the tools an agent calls during a live call (``POST /ai/tools``).

:mod:`dialer.ai.catalog` names the tools the dialer owns and their argument schemas,
:mod:`dialer.ai.templating` renders a customer tool's request, :mod:`dialer.ai.service`
answers one tool call. This package's ``__init__`` imports nothing, so the campaign model can
use the catalog and the templating rules without importing the service.
"""
