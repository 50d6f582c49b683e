export function greet(name: string) {
  return "hi " + name.toUpperCase();
}

greet(42);
