javac -Xdiags:verbose Main.java
exit=1
