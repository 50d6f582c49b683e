var limit = 10;
const unused = 3;

function check(value) {
  if (value == limit) {
    console.log(missing);
  }
}

check(4);
