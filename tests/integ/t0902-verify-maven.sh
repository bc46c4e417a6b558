#!/bin/sh
# nightshift verify on a Maven project, with the real mvn: fully offline
# ("offline: true" in .nightshift/verify.yml gives mvn -o) from Debian's
# packaged plugins ("maven: repository: /usr/share/maven-repo" gives
# -Dmaven.repo.local), the plugin versions pinned in the pom to the ones
# Debian ships. The Surefire reports mvn writes at test time are read: a
# green run counts its tests; a change that breaks a test has it newly
# failing at the test's file:line, and only that test runs again, by
# -Dtest=Class#method. Skipped, with the reason, without mvn, javac or
# the plugin packages: make deps does not install them (maven, a JDK and
# the plugins are some 320 MiB on a machine without Java; apt-get install
# maven default-jdk-headless libsurefire-java libmaven-compiler-plugin-java
# libmaven-resources-plugin-java junit4).
. "$(dirname "$0")/lib.sh"

REPO=/usr/share/maven-repo
# the versions Debian 12 packages: libsurefire-java, libmaven-compiler-plugin-java,
# libmaven-resources-plugin-java, junit4
SUREFIRE=2.22.3
COMPILER=3.10.1
RESOURCES=3.3.0
JUNIT=4.13.2

skip_all() {
	test_skip 'verify runs mvn test offline and reads its Surefire reports' "$1"
	test_done
	exit $?
}

# plugin GROUP/ARTIFACT VERSION PACKAGE: skip when the repository lacks it.
plugin() {
	[ -f "$REPO/$1/$2/${1##*/}-$2.jar" ] ||
		skip_all "$REPO has no ${1##*/} $2: Debian package $3 is not installed"
}

command -v mvn >/dev/null 2>&1 || skip_all 'mvn is not installed (Debian package maven)'
command -v javac >/dev/null 2>&1 || skip_all 'javac is not installed'
command -v jq >/dev/null 2>&1 || skip_all 'jq is not installed'
plugin org/apache/maven/plugins/maven-surefire-plugin $SUREFIRE libsurefire-java
plugin org/apache/maven/plugins/maven-compiler-plugin $COMPILER libmaven-compiler-plugin-java
plugin org/apache/maven/plugins/maven-resources-plugin $RESOURCES \
	libmaven-resources-plugin-java
plugin junit/junit $JUNIT junit4

commit() {
	git add -A &&
	git -c user.name=t -c user.email=t@t commit -qm "$1"
}

# calc: a Maven project whose tests count their runs in $COUNTS/NAME,
# committed. Calc.sub is the line a change breaks.
make_calc() {
	mkdir -p calc/src/main/java/com/acme calc/src/test/java/com/acme/text calc/.nightshift &&
	cd calc && git init -q &&
	printf "target/\n" >.gitignore &&
	cat >.nightshift/verify.yml <<-EOF &&
	offline: true
	maven:
	  repository: $REPO
	EOF
	cat >pom.xml <<-EOF &&
	<?xml version="1.0" encoding="UTF-8"?>
	<project xmlns="http://maven.apache.org/POM/4.0.0">
	  <modelVersion>4.0.0</modelVersion>
	  <groupId>com.acme</groupId>
	  <artifactId>calc</artifactId>
	  <version>1.0</version>
	  <properties>
	    <maven.compiler.release>11</maven.compiler.release>
	    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
	  </properties>
	  <dependencies>
	    <dependency>
	      <groupId>junit</groupId>
	      <artifactId>junit</artifactId>
	      <version>$JUNIT</version>
	      <scope>test</scope>
	    </dependency>
	  </dependencies>
	  <build>
	    <plugins>
	      <plugin>
	        <artifactId>maven-resources-plugin</artifactId>
	        <version>$RESOURCES</version>
	      </plugin>
	      <plugin>
	        <artifactId>maven-compiler-plugin</artifactId>
	        <version>$COMPILER</version>
	      </plugin>
	      <plugin>
	        <artifactId>maven-surefire-plugin</artifactId>
	        <version>$SUREFIRE</version>
	      </plugin>
	    </plugins>
	  </build>
	</project>
	EOF
	cat >src/main/java/com/acme/Calc.java <<-'EOF' &&
	package com.acme;

	public class Calc {
	    public static int add(int a, int b) {
	        return a + b;
	    }

	    public static int sub(int a, int b) {
	        return a - b;
	    }
	}
	EOF
	cat >src/test/java/com/acme/Runs.java <<-'EOF' &&
	package com.acme;

	import java.nio.file.Files;
	import java.nio.file.Path;

	public class Runs {
	    public static int count(String name) throws Exception {
	        Path p = Path.of(System.getenv("COUNTS"), name);
	        int n = Files.exists(p) ? Integer.parseInt(Files.readString(p)) : 0;
	        Files.writeString(p, String.valueOf(n + 1));
	        return n;
	    }
	}
	EOF
	cat >src/test/java/com/acme/CalcTest.java <<-'EOF' &&
	package com.acme;

	import static org.junit.Assert.assertEquals;

	import org.junit.Ignore;
	import org.junit.Test;

	public class CalcTest {
	    @Test
	    public void adds() throws Exception {
	        Runs.count("adds");
	        assertEquals(3, Calc.add(1, 2));
	    }

	    @Test
	    public void subtracts() throws Exception {
	        Runs.count("subtracts");
	        assertEquals(2, Calc.sub(3, 1));
	    }

	    @Ignore("not yet")
	    @Test
	    public void divides() {
	    }
	}
	EOF
	cat >src/test/java/com/acme/text/UpperTest.java <<-'EOF' &&
	package com.acme.text;

	import static org.junit.Assert.assertEquals;

	import com.acme.Runs;
	import org.junit.Test;

	public class UpperTest {
	    @Test
	    public void upper() throws Exception {
	        Runs.count("upper");
	        assertEquals("AB", "ab".toUpperCase());
	    }
	}
	EOF
	commit base
}

# runs NAME: how many times the test NAME ran.
runs() {
	cat "$COUNTS/$1" 2>/dev/null || echo 0
}

MVN="mvn -B -q -o -Dmaven.repo.local=$REPO test"

test_expect_success 'a green Maven project: mvn -o test ran, its Surefire reports counted' '
	export COUNTS="$PWD/counts" &&
	mkdir counts &&
	make_calc &&
	nsh verify . --json >../out.json &&
	cd .. &&
	test "$(jq -r .verdict out.json)" = pass &&
	test "$(jq -r ".plan.commands[0] | [.step, .command, .report, .rerun_selects] | join(\"|\")" out.json)" = \
		"test|$MVN|target/surefire-reports/|maven-dtest" &&
	test "$(jq -r ".steps[0] | [.command, .outcome, .exit_code] | join(\"|\")" out.json)" = \
		"$MVN|ran|0" &&
	test "$(jq -r ".tests | [.passed, .failed, .skipped] | join(\" \")" out.json)" = "3 0 1" &&
	test "$(jq -r ".checks[] | select(.id == \"tests\") | .status" out.json)" = pass &&
	test "$(runs adds) $(runs subtracts) $(runs upper)" = "1 1 1" &&
	ls calc/target/surefire-reports/TEST-com.acme.CalcTest.xml \
		calc/target/surefire-reports/TEST-com.acme.text.UpperTest.xml
'

test_expect_success 'a change that breaks a test: newly failing at file:line, re-run alone by -Dtest' '
	export COUNTS="$PWD/counts" &&
	mkdir counts &&
	make_calc &&
	base=$(git rev-parse HEAD) &&
	sed -i "s/return a - b;/return a + b;/" src/main/java/com/acme/Calc.java &&
	commit "break sub" &&
	nsh verify . --baseline "$base" --json >../out.json; test $? -eq 1 &&
	cd .. &&
	test "$(jq -r .verdict out.json)" = fail &&
	test "$(jq -r ".tests | [.passed, .failed, .skipped] | join(\" \")" out.json)" = "2 1 1" &&
	test "$(jq -r ".tests.diff.newly_failing | join(\",\")" out.json)" = \
		com.acme.CalcTest.subtracts &&
	test "$(jq -r ".tests.broken | join(\",\")" out.json)" = com.acme.CalcTest.subtracts &&
	test "$(jq -r ".tests.failing[0] | [.name, .file, .line] | join(\":\")" out.json)" = \
		com.acme.CalcTest.subtracts:src/test/java/com/acme/CalcTest.java:18 &&
	test "$(jq -r ".checks[] | select(.id == \"tests\") | .findings[0] | [.rule, .file, .line, .message] | join(\":\")" out.json)" = \
		newly-failing:src/test/java/com/acme/CalcTest.java:18:com.acme.CalcTest.subtracts &&
	jq -r ".checks[] | select(.id == \"tests\") | .findings[0].excerpt" out.json >excerpt &&
	grep -q "expected:<2> but was:<4>" excerpt &&
	test "$(jq -r ".tests.reruns | join(\",\")" out.json)" = \
		"$MVN '\''-Dtest=com.acme.CalcTest#subtracts'\'' -Dsurefire.failIfNoSpecifiedTests=false" &&
	test "$(runs adds) $(runs subtracts) $(runs upper)" = "2 3 2"
'

test_done
