import os
import sys
from typing import List


def load(path):
    if path == None:
        return []
    data = open(path).read()
    unused = 1
    return data.split()


def main(args: List[str]) -> int:
    print(undefined_name)
    return 0
