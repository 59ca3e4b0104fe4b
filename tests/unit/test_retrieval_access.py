"""The permission filter a search applies, as a Chroma `where` and as a Python predicate."""

from retrieval._search import NO_ID, _Access


def _meta(visibility: str, account_id: int = NO_ID, territory_id: int = NO_ID) -> dict:
    return {"visibility": visibility, "account_id": account_id, "territory_id": territory_id}


def test_public_only_callers_get_an_everyone_filter() -> None:
    access = _Access(False, frozenset(), None)
    assert access.where() == {"visibility": "everyone"}
    assert access.allows(_meta("everyone"))
    assert not access.allows(_meta("owner", account_id=5, territory_id=1))
    assert not access.allows(_meta("territory", territory_id=1))


def test_a_rep_filter_names_only_their_accounts() -> None:
    access = _Access(False, frozenset({3, 1}), None)
    assert access.where() == {"$or": [{"visibility": "everyone"}, {"account_id": {"$in": [1, 3]}}]}
    assert access.allows(_meta("owner", account_id=3))
    assert not access.allows(_meta("owner", account_id=4))


def test_a_manager_also_sees_territory_documents_of_their_own_territory() -> None:
    access = _Access(False, frozenset({7}), 2)
    where = access.where()
    assert {"$and": [{"visibility": "territory"}, {"territory_id": 2}, {"account_id": NO_ID}]} in where["$or"]
    assert access.allows(_meta("territory", territory_id=2))
    assert not access.allows(_meta("territory", territory_id=3))
    assert not access.allows(_meta("owner", account_id=8, territory_id=2))


def test_admins_are_not_filtered() -> None:
    access = _Access(True, frozenset(), None)
    assert access.where() is None
    assert access.allows(_meta("owner", account_id=99))
