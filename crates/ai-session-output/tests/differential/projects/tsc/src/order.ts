interface Order {
  id: number;
  total: number;
}

export function describe(order: Order): string {
  return "order " + order.id + " costs " + order.totl;
}

const first: Order = { id: "1", total: 3 };
let count: number = describe(first);
