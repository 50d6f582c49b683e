javac Main.java
exit=1
