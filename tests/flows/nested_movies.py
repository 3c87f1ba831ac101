"""A nested foreach: genres -> the movies of each genre -> a score per movie; a join per
genre (its movies' scores) and a join of those joins. A flag file breaks one movie."""

import os

from lamina import Flow

flow = Flow("nested_movies")

CATALOGUE = {
    "drama": ["Heat", "Rocky", "Network"],
    "horror": ["Alien"],
    "comedy": [],
    "western": ["Unforgiven", "Shane"],
}


@flow.step
def genres() -> list[str]:
    return list(CATALOGUE)


@flow.step(foreach="genres")
def movies(genres: str) -> list[str]:
    return CATALOGUE[genres]


@flow.step(foreach="movies", nested=True)
def score(movies: str, flag: str = "broken.flag", runs: str = "runs.txt") -> int:
    with open(runs, "a") as f:
        f.write(f"score {movies}\n")
    if movies == "Network" and os.path.exists(flag):
        raise ValueError(f"cannot score {movies}")
    return len(movies)


@flow.step(foreach="genres")
def genre_best(genres: str, score: list[int]) -> tuple[str, int]:
    """The join of one genre: its movies' scores."""
    return genres, max(score, default=0)


@flow.step
def by_genre(score: list[list[int]]) -> list[list[int]]:
    """The join of every genre: the scores grouped by genre, in order."""
    return score


@flow.step
def best(genre_best: list[tuple[str, int]]) -> str:
    """A join of the per-genre joins."""
    return max(genre_best, key=lambda pair: pair[1])[0]


@flow.step(foreach="score")
def bonus(score: int) -> int:
    """A foreach over a nested step's results: one task per movie, grouped the same way."""
    return score + 100


@flow.step
def bonus_by_genre(bonus: list[list[int]]) -> list[list[int]]:
    return bonus
