from typing import Optional


def parse_port(text: str) -> int:
    return text


def greet(name: Optional[str]) -> str:
    return "hi " + name


count: int = "three"
print(parse_port(8080))
