#!/usr/bin/perl
# check_host() by Mail::SPF (Debian libmail-spf-perl 2.9.0 on Net::DNS), one question per stdin line.
#
# Usage: mailspf-driver.pl HOST PORT
# In:  {"id": …, "ip": …, "sender": …, "helo": …, "domain": …} per line
# Out: {"id": …, "result": "pass|fail|softfail|neutral|none|permerror|temperror"} per line,
#      or {"id": …, "error": "…"} when Mail::SPF itself died.
#
# Only the DNS server named on the command line is asked (no search list, no default domain), and the
# server object is held to RFC 7208's limits where Mail::SPF has an option for them.
use strict;
use warnings;

use JSON::PP;
use Mail::SPF;
use Net::DNS::Resolver;

my ($host, $port) = @ARGV;
die "usage: $0 HOST PORT\n" unless defined $port;

my $resolver = Net::DNS::Resolver->new(
    nameservers => [$host],
    port        => $port,
    searchlist  => [],
    domain      => '',
    defnames    => 0,
    dnsrch      => 0,
    recurse     => 1,
    retry       => 2,
    retrans     => 1,
    udp_timeout => 5,
    tcp_timeout => 5,
    # One UDP socket for all questions (replies are matched by id): a fifth less CPU per question.
    persistent_udp => 1,
);

my %rfc7208 = (
    max_dns_interactive_terms     => 10,   # 4.6.4: 10 DNS-querying terms
    max_name_lookups_per_term     => 10,   # 4.6.4
    max_name_lookups_per_mx_mech  => 10,   # 4.6.4 (Mail::SPF truncates instead of permerror)
    max_name_lookups_per_ptr_mech => 10,   # 4.6.4: the first 10 PTR names
    max_void_dns_lookups          => 2,    # 4.6.4: more than 2 void lookups is a permerror
);
my $server = Mail::SPF::Server->new(
    dns_resolver   => $resolver,
    hostname       => 'oracle.invalid',
    query_rr_types => Mail::SPF::Server->query_rr_type_txt,   # RFC 7208 3.1: TXT only
    %rfc7208,
);
for my $option (sort keys %rfc7208) {
    my $value = $server->$option;
    die "Mail::SPF server: $option is " . ($value // 'undef') . ", RFC 7208 needs $rfc7208{$option}\n"
        unless defined $value && $value == $rfc7208{$option};
}

my $json = JSON::PP->new->canonical;
$| = 1;
while (my $line = <STDIN>) {
    next unless $line =~ /\S/;
    my $question = $json->decode($line);
    my $answer = eval {
        # check_host(ip, domain, sender): the MAIL FROM identity, starting at `domain`.
        my $request = Mail::SPF::Request->new(
            versions         => [1],
            scope            => 'mfrom',
            identity         => $question->{sender},
            ip_address       => $question->{ip},
            helo_identity    => $question->{helo},
            authority_domain => $question->{domain},
        );
        { id => $question->{id}, result => $server->process($request)->code };
    };
    if (!$answer) {
        my $err = $@ || 'unknown error';
        $answer = { id => $question->{id}, error => "$err" };
    }
    print $json->encode($answer), "\n";
}
