"""PostgreSQL transfers by quantity in one round trip: tanhui_transfer does on the server what ledger.transfer does

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 15:00:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The journal's canonical JSON of a row (tanhui.unit_of_work.row_image through journal_json): keys sorted, no
# spaces, integers as digits, text as to_json spells it (the escapes orjson writes), times in UTC with
# microseconds and "Z".  Written out per table, so a column added later must be added here too; the test
# that compares this path's journal with the Python path's, byte for byte, shows when one is missing.
# Spelled inline where a row is at hand (``@`` stands for it): a SQL function called per row costs more than
# the rest of the transfer's journal work together.
_IMAGES = {
    "accounts": """'{"available":' || @.available
        || ',"created_at":"' || to_char(@.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","id":' || @.id || ',"kind":' || to_json(@.kind) || ',"name":' || to_json(@.name)
        || ',"organization_id":' || @.organization_id || ',"pledged":' || @.pledged || '}'""",
    "acts": """'{"account_id":' || coalesce(@.account_id::text, 'null') || ',"actor":' || to_json(@.actor)
        || ',"created_at":"' || to_char(@.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","id":' || @.id || ',"kind":' || to_json(@.kind) || ',"quantity":' || @.quantity
        || ',"reason":' || coalesce(to_json(@.reason)::text, 'null')
        || ',"to_account_id":' || coalesce(@.to_account_id::text, 'null') || '}'""",
    "blocks": """'{"account_id":' || @.account_id || ',"first":' || @.first || ',"id":' || @.id
        || ',"issuance_id":' || @.issuance_id || ',"issued_last":' || @.issued_last || ',"last":' || @.last
        || ',"pledge_id":' || coalesce(@.pledge_id::text, 'null')
        || ',"predecessor_last":' || coalesce(@.predecessor_last::text, 'null') || ',"quantity":' || @.quantity
        || ',"state":' || to_json(@.state) || ',"successor_first":' || coalesce(@.successor_first::text, 'null')
        || '}'""",
    "movements": """'{"act_id":' || @.act_id || ',"first":' || @.first
        || ',"from_account_id":' || coalesce(@.from_account_id::text, 'null')
        || ',"from_state":' || coalesce(to_json(@.from_state)::text, 'null') || ',"id":' || @.id
        || ',"issuance_id":' || @.issuance_id || ',"last":' || @.last || ',"to_account_id":' || @.to_account_id
        || ',"to_state":' || to_json(@.to_state) || '}'""",
}



def _image(table: str, row: str) -> str:
    """The SQL expression of ``row``'s (a row of ``table``) image as the journal keeps it."""
    return "(" + _IMAGES[table].replace("@.", f"{row}.") + ")"


# What ledger.transfer does for a transfer by quantity, in the same order, with the same locks: the balances
# of both accounts in ascending id order (guarded, so the sender cannot go below zero), the sender checked,
# its available blocks taken first issued first out, the act recorded, the issuances locked FOR NO KEY
# UPDATE in ascending id order, and each take merged into the receiver's available blocks beside it or split
# off (ledger._into_neighbours and ledger._split).  It returns one row per movement, with the issuance's
# serial parts, and the journal entry's payload on the first row; the entry is appended at commit, as every
# entry is (tanhui_journal_append), so the journal head is still locked last.  Refusals raise SQLSTATE
# TH404/TH403/TH422/TH409 with the Python path's message (tanhui.registry.on_server maps them back).
# p_region_free: the receiving organisation must have no region; when it has one, nothing is done and no row
# is returned (the caller applies the region's rules, regions.transfers).
_TRANSFER = """
CREATE FUNCTION tanhui_transfer(p_from bigint, p_to bigint, p_quantity bigint, p_actor text,
                                p_organization_id bigint, p_created_at timestamptz, p_region_free boolean)
RETURNS TABLE (r_id bigint, r_act_id bigint, r_issuance_id bigint, r_first bigint, r_last bigint,
               r_from_account_id bigint, r_to_account_id bigint, r_from_state text, r_to_state text,
               r_registry text, r_region text, r_credit_type text, r_project_id bigint, r_vintage integer,
               r_payload text)
-- Generic plans: re-planning its queries for each call's values (plan_cache_mode auto) costs more than
-- they take to run, and the values never change the best plan.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_region text;
    v_id bigint;
    v_delta bigint;
    v_refused bigint;
    v_account accounts;
    v_sender accounts;
    v_receiver accounts;
    v_act acts;
    v_block blocks;
    v_issuance issuances;
    v_issued issuances[] := '{}';
    v_movement movements;
    v_moved movements[] := '{}';
    -- The takes: each a block of the sender's, and the last unit taken from its start.
    v_takes blocks[] := '{}';
    v_take_last bigint[] := '{}';
    v_remaining bigint := p_quantity;
    v_part bigint;
    v_issued_last bigint;
    v_before bigint;
    v_after bigint;
    v_beside blocks[];
    v_first bigint;
    v_last bigint;
    v_end bigint;
    -- The blocks the act wrote or deleted, for the entry.
    v_touched bigint[] := '{}';
    v_at integer;
    v_accounts text;
    v_blocks text;
    v_movements text;
    v_payload text;
BEGIN
    IF p_region_free THEN
        SELECT r.region INTO v_region FROM accounts a
            LEFT JOIN organization_regions r ON r.organization_id = a.organization_id WHERE a.id = p_to;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'TH404', MESSAGE = format('account %s does not exist', p_to);
        END IF;
        IF v_region IS NOT NULL THEN
            RETURN;
        END IF;
    END IF;

    -- The ledger's lock: both balances, in ascending id order (ledger.change_balances).
    FOREACH v_id IN ARRAY ARRAY[least(p_from, p_to), greatest(p_from, p_to)] LOOP
        v_delta := CASE WHEN v_id = p_from THEN -p_quantity ELSE p_quantity END;
        UPDATE accounts SET available = available + v_delta
            WHERE id = v_id AND available >= greatest(0, -v_delta) RETURNING * INTO v_account;
        IF NOT FOUND THEN
            v_refused := coalesce(v_refused, v_id);
        ELSIF v_id = p_from THEN
            v_sender := v_account;
        ELSE
            v_receiver := v_account;
        END IF;
    END LOOP;
    IF v_refused IS NOT NULL THEN
        SELECT * INTO v_sender FROM accounts WHERE id = p_from;
        IF NOT FOUND THEN
            RAISE EXCEPTION USING ERRCODE = 'TH404', MESSAGE = format('account %s does not exist', p_from);
        END IF;
    END IF;
    -- The sender is checked before the refusal is reported, as ledger.transfer does (ledger._check_sender).
    IF v_sender.organization_id <> p_organization_id THEN
        RAISE EXCEPTION USING ERRCODE = 'TH403',
            MESSAGE = format('account %s belongs to another organisation', p_from);
    END IF;
    IF v_sender.kind NOT IN ('holding', 'buffer', 'escrow') THEN
        RAISE EXCEPTION USING ERRCODE = 'TH422',
            MESSAGE = format('units in a %s account cannot be transferred out', v_sender.kind);
    END IF;
    IF v_refused = p_from THEN
        RAISE EXCEPTION USING ERRCODE = 'TH409', DETAIL = v_sender.available || ' ' || p_quantity,
            MESSAGE = format('account %s holds %s available units; %s were asked for',
                             p_from, v_sender.available, p_quantity);
    ELSIF v_refused = p_to THEN  -- only a missing receiver is refused: its guard asks for available >= 0
        RAISE EXCEPTION USING ERRCODE = 'TH404', MESSAGE = format('account %s does not exist', p_to);
    END IF;

    -- First issued, first out (blocks.take_quantity): whole blocks, then the start of the last one.
    FOR v_block IN SELECT * FROM blocks WHERE account_id = p_from AND state = 'available'
                   ORDER BY issuance_id, first LOOP
        v_part := least(v_block.quantity, v_remaining);
        v_takes := v_takes || v_block;
        v_take_last := v_take_last || (v_block.first + v_part - 1);
        v_remaining := v_remaining - v_part;
        EXIT WHEN v_remaining = 0;
    END LOOP;
    IF v_remaining > 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'TH409', DETAIL = (p_quantity - v_remaining) || ' ' || p_quantity,
            MESSAGE = format('the account holds %s available units; %s were asked for',
                             p_quantity - v_remaining, p_quantity);
    END IF;

    INSERT INTO acts (kind, account_id, to_account_id, quantity, reason, actor, created_at)
        VALUES ('transfer', p_from, p_to, p_quantity, NULL, p_actor, p_created_at) RETURNING * INTO v_act;
    FOR v_issuance IN SELECT * FROM issuances WHERE id IN (SELECT t.issuance_id FROM unnest(v_takes) t)
                      ORDER BY id FOR NO KEY UPDATE LOOP
        v_issued := v_issued || v_issuance;
    END LOOP;

    FOR v_at IN 1 .. cardinality(v_takes) LOOP
        v_block := v_takes[v_at];
        v_last := v_take_last[v_at];
        SELECT i.quantity INTO v_issued_last FROM unnest(v_issued) i WHERE i.id = v_block.issuance_id;
        v_touched := v_touched || v_block.id;
        -- The receiver's available blocks beside the take (ledger._beside; a take starts at its block's start).
        v_before := CASE WHEN v_block.first > 1 THEN v_block.first - 1 END;
        v_after := CASE WHEN v_last = v_block.last THEN v_last + 1 END;
        SELECT coalesce(array_agg(b ORDER BY b.first), '{}') INTO v_beside FROM blocks b
            WHERE b.issuance_id = v_block.issuance_id AND (b.last = v_before OR b.first = v_after)
              AND b.account_id = p_to AND b.state = 'available';
        IF cardinality(v_beside) > 0 THEN
            -- Merged (ledger._into_neighbours): the block keeps its remainder or goes; the first neighbour
            -- grows over the units and any other neighbour.
            IF v_last < v_block.last THEN
                UPDATE blocks SET first = v_last + 1, last = v_block.last, quantity = v_block.last - v_last,
                                  predecessor_last = v_last,
                                  successor_first = CASE WHEN v_block.last = v_issued_last THEN NULL
                                                         ELSE v_block.last + 1 END,
                                  account_id = v_block.account_id, state = v_block.state,
                                  pledge_id = v_block.pledge_id
                    WHERE id = v_block.id;
            ELSE
                DELETE FROM blocks WHERE id = v_block.id;
            END IF;
            FOR v_part IN 2 .. cardinality(v_beside) LOOP
                DELETE FROM blocks WHERE id = (v_beside[v_part]).id;
                v_touched := v_touched || (v_beside[v_part]).id;
            END LOOP;
            v_first := least(v_block.first, (v_beside[1]).first);
            v_end := greatest(v_last, (v_beside[cardinality(v_beside)]).last);
            UPDATE blocks SET first = v_first, last = v_end, quantity = v_end - v_first + 1,
                              predecessor_last = CASE WHEN v_first = 1 THEN NULL ELSE v_first - 1 END,
                              successor_first = CASE WHEN v_end = v_issued_last THEN NULL ELSE v_end + 1 END,
                              account_id = p_to, state = 'available', pledge_id = NULL
                WHERE id = (v_beside[1]).id;
            v_touched := v_touched || (v_beside[1]).id;
        ELSE
            -- Split off (ledger._split): the block's row becomes the take, its remainder a row of its own.
            UPDATE blocks SET first = v_block.first, last = v_last, quantity = v_last - v_block.first + 1,
                              predecessor_last = v_block.predecessor_last,
                              successor_first = CASE WHEN v_last = v_issued_last THEN NULL ELSE v_last + 1 END,
                              account_id = p_to, state = 'available', pledge_id = NULL
                WHERE id = v_block.id;
            IF v_last < v_block.last THEN
                INSERT INTO blocks (issuance_id, first, last, quantity, predecessor_last, successor_first,
                                    issued_last, account_id, state, pledge_id)
                    VALUES (v_block.issuance_id, v_last + 1, v_block.last, v_block.last - v_last, v_last,
                            CASE WHEN v_block.last = v_issued_last THEN NULL ELSE v_block.last + 1 END,
                            v_issued_last, v_block.account_id, v_block.state, v_block.pledge_id)
                    RETURNING id INTO v_id;
                v_touched := v_touched || v_id;
            END IF;
        END IF;
        INSERT INTO movements (act_id, issuance_id, first, last, from_account_id, to_account_id, from_state,
                               to_state)
            VALUES (v_act.id, v_block.issuance_id, v_block.first, v_last, v_block.account_id, p_to,
                    v_block.state, 'available')
            RETURNING * INTO v_movement;
        v_moved := v_moved || v_movement;
    END LOOP;

    -- The entry's payload as journal_json writes it: keys sorted (row keys as text, in code point order),
    -- each row as the act left it (a block it deleted: null).
    v_accounts := CASE WHEN p_from::text COLLATE "C" < p_to::text
        THEN '"' || p_from || '":' || {sender} || ',"' || p_to || '":'
             || {receiver}
        ELSE '"' || p_to || '":' || {receiver} || ',"' || p_from || '":'
             || {sender} END;
    SELECT string_agg('"' || t.id || '":' || CASE WHEN b.id IS NULL THEN 'null' ELSE {block} END,
                      ',' ORDER BY t.id::text COLLATE "C")
        INTO v_blocks FROM (SELECT DISTINCT unnest(v_touched) AS id) t LEFT JOIN blocks b ON b.id = t.id;
    SELECT string_agg('"' || m.id || '":' || {movement}, ',' ORDER BY m.id::text COLLATE "C")
        INTO v_movements FROM unnest(v_moved) m;
    v_payload := '{"rows":{"accounts":{' || v_accounts || '},"acts":{"' || v_act.id || '":'
        || {act} || '},"blocks":{' || v_blocks || '},"movements":{' || v_movements
        || '}},"summary":{"act_id":' || v_act.id || ',"from_account_id":' || p_from || ',"quantity":' || p_quantity
        || ',"to_account_id":' || p_to || '}}';

    FOR v_at IN 1 .. cardinality(v_moved) LOOP
        v_movement := v_moved[v_at];
        SELECT i.* INTO v_issuance FROM unnest(v_issued) i WHERE i.id = v_movement.issuance_id;
        r_id := v_movement.id;
        r_act_id := v_movement.act_id;
        r_issuance_id := v_movement.issuance_id;
        r_first := v_movement.first;
        r_last := v_movement.last;
        r_from_account_id := v_movement.from_account_id;
        r_to_account_id := v_movement.to_account_id;
        r_from_state := v_movement.from_state;
        r_to_state := v_movement.to_state;
        r_registry := v_issuance.registry;
        r_region := v_issuance.region;
        r_credit_type := v_issuance.credit_type;
        r_project_id := v_issuance.project_id;
        r_vintage := v_issuance.vintage;
        r_payload := CASE WHEN v_at = 1 THEN v_payload END;
        RETURN NEXT;
    END LOOP;
END $$"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite runs every transfer in Python
    images = {"sender": _image("accounts", "v_sender"), "receiver": _image("accounts", "v_receiver"),
              "act": _image("acts", "v_act"), "block": _image("blocks", "b"), "movement": _image("movements", "m")}
    transfer = _TRANSFER
    for name, image in images.items():
        transfer = transfer.replace("{" + name + "}", image)
    op.execute(transfer)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION tanhui_transfer(bigint, bigint, bigint, text, bigint, timestamptz, boolean)")
