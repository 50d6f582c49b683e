javac -Xlint:all Main.java
exit=1
