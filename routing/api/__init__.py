"""HTTP entry points of routing, one router a module: the agencies' REST inbox (``inbox``), the
routed dossier's route and the desk's commands (``dossiers``), and the list of dossiers routing
could not route (``unroutable``); each module's ``router`` is what the app includes.

Entry points only translate: requests → application use cases (:mod:`routing.application`),
errors → problems (``deps.ERRORS``). Who may act is checked before any state: an unknown
dossier and a dossier the caller has no part in both answer 404, so existence is not revealed;
an agency acting on another agency's step of a dossier it works on gets 403; a step or
dossier in the wrong state, or a write that kept losing a race, 409; an argument that can never
be valid, 422. Every integer and instant a request carries is bounded. Bodies and views are in
``schemas``; the dependencies, the error table and the helpers the routers share in ``deps``.
"""
