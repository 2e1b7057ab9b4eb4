"""The test world builds on both databases (a canary for the fixtures themselves)."""

from tests.factories import World


def test_world_issues_and_transfers(world: World) -> None:
    result = world.issue(1000)
    assert result.serials == [f"TH1.SIP.PHCER.P{world.project}.V2024.I1.1-1000"]
    moved = world.act(world.owner, "transfer", from_account_id=world.owner_account,
                      to_account_id=world.buyer_account, quantity=250)
    assert moved.serials == [f"TH1.SIP.PHCER.P{world.project}.V2024.I1.1-250"]
