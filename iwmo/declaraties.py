"""WMO323 in (judged and recorded by ``iwmo.declared``), answered with a WMO325; a
municipality's own WMO325 recorded per line."""

from __future__ import annotations

from datetime import date

import msgspec

from iwmo import messages as m
from iwmo import retour as r
from iwmo.units import Message


class Declaraties:
    """Handlers mixed into ``iwmo.inbound.Inbound``."""

    # --- WMO323 Declaratie / WMO325 Declaratie-antwoord ----------------------------------
    def _wmo323(self, msg: Message, message: m.Wmo323) -> m.Wmo325:
        """The declaration is judged and recorded line by line (``iwmo.declared``, which
        decides what a declared month means); the answer is a WMO325."""
        from iwmo.declared import record_declaration  # the declaration cycle's own module

        judgement = record_declaration(
            self.app, self.views, msg.actor.tenant, msg.provider, message
        )
        lines = {line.path: line.codes for line in judgement.lines}
        return declaration_answer(
            message, judgement.codes or (r.ACCEPTED,), lines, judgement.granted_cents, msg.today
        )

    def _wmo325(self, msg: Message, message: m.Wmo325) -> m.Wmo325:
        """A municipality's own judgement of a declaration: its codes per line are recorded
        (``iwmo_declaration_outcome``) and the message is acknowledged as received."""
        answer = message.declaratie_antwoord
        now = msg.today.isoformat()
        rows = []
        if answer is not None:
            for client in answer.clienten or []:
                for p in client.prestaties:
                    rows.append(
                        (
                            msg.actor.tenant,
                            msg.provider,
                            answer.declaratie_nummer,
                            p.product_referentie.referentie_nummer,
                            " ".join(p.retour_codes),
                            now,
                        )
                    )
        with self.views.transaction() as cur:
            for row in rows:
                cur.execute(
                    self.views.sql(
                        "INSERT INTO iwmo_declaration_outcome (tenant, provider, "
                        "declaratie_nummer, referentie_nummer, retour_codes, recorded_at) "
                        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, provider, "
                        "declaratie_nummer, referentie_nummer) DO UPDATE SET "
                        "retour_codes = excluded.retour_codes, recorded_at = excluded.recorded_at"
                    ),
                    row,
                )
        return message


def declaration_answer(
    message: m.Wmo323,
    codes: tuple[str, ...],
    lines: dict[str, tuple[str, ...]],
    granted_cents: int,
    today: date,
) -> m.Wmo325:
    """The WMO325 answering a WMO323: the header's codes, and when the declaration was
    judged line by line, each Prestatie with its codes and the granted total."""
    header = message.header
    d = message.declaratie
    judged = bool(lines)
    clienten = []
    for ci, client in enumerate(d.clienten, 1):
        prestaties = []
        for pi, p in enumerate(client.prestaties, 1):
            path = f"/Bericht/Declaratie/Clienten/Client[{ci}]/Prestaties/Prestatie[{pi}]"
            prestaties.append(
                m.Prestatie325(
                    **msgspec.structs.asdict(p),
                    retour_codes=list(lines.get(path, (r.NOT_JUDGED,))),
                )
            )
        clienten.append(
            m.Client325(bsn=client.bsn, prestaties=prestaties, retour_codes=[r.ACCEPTED])
        )
    return m.Wmo325(
        header=m.Header325(
            bericht_code=m.KINDS["wmo325"][0],
            afzender=header.ontvanger,
            ontvanger=header.afzender,
            bericht_identificatie=m.BerichtIdentificatie(
                identificatie=r.retour_id(message), dagtekening=today
            ),
            declaratie_identificatie=header.bericht_identificatie,
            xsd_versie_declaratie=header.xsd_versie,
            retour_codes=list(codes if not judged else (r.ACCEPTED,)),
        ),
        declaratie_antwoord=m.DeclaratieAntwoord(
            declaratie_nummer=d.declaratie_nummer,
            totaal_ingediend_bedrag=d.totaal_ingediend_bedrag,
            totaal_toegekend_bedrag=m.TotaalBedragMetDC(
                totaal_bedrag=abs(granted_cents), debet_credit="D" if granted_cents >= 0 else "C"
            ),
            clienten=clienten if judged else None,
            retour_codes=list(codes),
        )
        if judged or codes == ("9333",)
        else None,
    )
