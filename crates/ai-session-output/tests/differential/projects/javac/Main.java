import java.util.List;

public class Main {
    static int twice(int x) {
        return x * 2;
    }

    public static void main(String[] args) {
        int n = "three";
        System.out.println(twice(n) + missing);
        String s = twice(4);
    }
}
